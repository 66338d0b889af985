// scratchnet preprocessing in JavaScript: docs/PREPROCESS.md (issue 11)
