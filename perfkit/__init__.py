"""perfkit: analytics and forecasting for the annual performance evaluation (绩效评估) of a transport bureau."""

__version__ = "0.1.0"
