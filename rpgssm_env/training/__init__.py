"""Training the RP-GSSM: EM trainer, checkpoints, data windows and probes (PyTorch, NumPy,
scikit-learn; never Gymnasium or SB3)."""
