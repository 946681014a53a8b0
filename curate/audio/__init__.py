"""curate.audio"""
