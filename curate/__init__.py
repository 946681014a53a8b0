"""curate: dataset curation, augmentation and post-training for speech deepfake detection."""

__version__ = "0.1.0"
