"""Models of ``rbc-bench``: the 3-TierDCFNet reference model and the torchvision baselines, in one registry."""
