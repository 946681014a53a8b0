"""curate.select"""
