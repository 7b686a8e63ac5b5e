"""The training studio (``mnist-sgd studio``): train, watch and step SGD live."""
