"""Analytics: HR dashboards, forecasts and item statistics (design.md §3)."""
