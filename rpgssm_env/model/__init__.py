"""The RP-GSSM core: pure tensor functions (Gaussian algebra, Kalman inference, free energy) and
the ``nn.Module``s built on them. Depends on PyTorch only (never Gymnasium or SB3)."""
