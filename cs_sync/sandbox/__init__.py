"""The local sandbox: a stand-in for Salesforce and Google Sheets over real HTTP on 127.0.0.1.

It exists so that the demo and the end-to-end tests run the very same connector code
(simple-salesforce, gspread) that production runs. It is not a product feature.
"""
