"""curate.demo"""
