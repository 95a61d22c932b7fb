"""The process designer's pages (issue 10, items 8-9): the process library (versions, hashes, deploy times,
instance counts), a version's diagram, the diff of two versions, and the in-browser modeler that saves,
validates (engine.validate.check_files, the same checks as `gradflow processes validate`) and deploys."""
