"""curate.ablate"""
