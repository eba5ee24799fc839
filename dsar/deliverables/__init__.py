"""The deliverables of a case: the export ZIP and the PDF report, certificate and confirmation."""
