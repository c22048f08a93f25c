# Results (issue 7): aggregation, tables, figures and the HTML report.
