"Label texts with an LLM from a codebook, validate against human labels, distil into a small classifier, and compare."
__version__ = "0.1.0"
