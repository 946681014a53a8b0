"""curate.recipes"""
