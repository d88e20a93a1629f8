"""Files: contents in a storage backend (``storage``), what a file is (``content``), the
tenant's table of stored files (``tables``), file fields in the record write path
(``binding``) and the file service behind the API and pages (``service``). See
docs/decisions/0021-files.md."""
