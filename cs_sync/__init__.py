"""cs-sync: customer-success sync worker for Salesforce."""

__version__ = "0.1.0"
