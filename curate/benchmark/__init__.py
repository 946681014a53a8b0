"""Benchmark suites: named public test sets, every run scored on each, one leaderboard.

A suite file (``recipes/benchmarks/*.toml``, :mod:`curate.benchmark.spec`) names its
sets as catalog queries; :mod:`curate.benchmark.sets` freezes them as selections,
:mod:`curate.benchmark.runner` scores runs on them (reusing stored scores),
:mod:`curate.benchmark.leaderboard` writes markdown, HTML and JSON.
"""
