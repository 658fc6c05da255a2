"""Data sets of episodes (``.npz`` arrays, HDF5/Minari) and the windows training reads.

No Gymnasium or SB3 here: the trainer reads data through these modules."""
