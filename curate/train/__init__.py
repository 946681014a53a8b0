"""The post-training loop: data (dataset, samplers), models (small CNN, SSL backbones),
SAM/ASAM, the loop and checkpoints, metrics, evaluation, sharpness, experiment files,
runs against the catalog, DDP helpers and benchmarks."""
