"""The network: model, net files (ours and lc0's), quantization, the evaluator, and the commands that make and compare nets.

May import torch, numpy and :mod:`cython_ext`; knows nothing of matches, training, benchmarks or UCI.
"""
