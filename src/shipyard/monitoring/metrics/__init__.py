"""The metrics store: datapoints in batches, statistics and percentiles per period, roll-ups."""
