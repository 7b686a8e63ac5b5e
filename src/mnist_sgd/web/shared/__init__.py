"""What both web apps use (``server``, ``body``, ``guard``, ``images``, ``openapi``); it
imports neither of them."""
