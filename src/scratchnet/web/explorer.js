// scratchnet explorer: the page (issue 11)
