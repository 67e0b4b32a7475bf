"""`rbc-dataset build`: tiles, leak-free splits, HDF5 and Hugging Face shards with a dataset card, verify."""
