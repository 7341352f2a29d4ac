"""External programs, one module each, every one with a version probe.

Every child process goes through ``_run.run`` so that each call is logged with its
arguments, exit status and duration (OCRmyPDF ``subprocess/_run.py``).
"""
