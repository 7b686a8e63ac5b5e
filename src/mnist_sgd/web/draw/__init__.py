"""The draw-a-digit page (``mnist-sgd serve``): draw, watch the model decide."""
