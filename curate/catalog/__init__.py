"""curate.catalog"""
