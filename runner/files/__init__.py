"""The files around a run: sample sheets, which of their cells name local or s3:// files, staging local files to the
data bucket, and what a run wrote under the results bucket; the `stage` and `results` use cases.
Imports core, aws and session.
"""
