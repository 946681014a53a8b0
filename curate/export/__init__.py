"""curate.export"""
