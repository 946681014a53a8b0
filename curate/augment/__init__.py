"""curate.augment"""
