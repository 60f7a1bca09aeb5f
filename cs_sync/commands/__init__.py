"""One module per `cs-sync` command: each adds its parser (`register`) and runs it (`main`).

Only these modules read the clock; everything they call takes the run's date.
"""
