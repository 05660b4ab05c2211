"""Problems with exact hypergradients (numpy / scipy): ridge and L2-logistic regression."""
