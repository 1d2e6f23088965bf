"""The ICP tuning loop: re-score a run with another ICP from kept pages (``rescore``),
measure a run against a salesperson's labels (``evaluate``), and see what changed between
two runs (``compare``). ``Qualify`` (qualify.api) offers each as one call.
"""
