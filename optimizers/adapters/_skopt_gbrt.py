"""scikit-optimize's ``GradientBoostingQuantileRegressor`` with two compatibility fixes (see
``skopt_._compatible_gbrt``). Imported only when ``skopt-gbrt`` builds its model: this module
imports scikit-optimize at the top, so that the class has a name pickle can find."""

from __future__ import annotations

import numpy as np
from sklearn.utils import RegressorTags
from skopt.learning import GradientBoostingQuantileRegressor as Base


class GradientBoostingQuantileRegressor(Base):
    __doc__ = Base.__doc__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        return tags

    def predict(self, X, return_std=False, return_quantiles=False):
        if not return_std or return_quantiles:
            return super().predict(X, return_std=return_std, return_quantiles=return_quantiles)
        # Base.predict's return_std branch, with np.isin for the removed np.in1d
        if not np.all(np.isin([0.16, 0.5, 0.84], self.quantiles)):
            raise ValueError("return_std works only if the quantiles during "
                             "instantiation include 0.16, 0.5 and 0.84")
        low = self.regressors_[self.quantiles.index(0.16)].predict(X)
        high = self.regressors_[self.quantiles.index(0.84)].predict(X)
        mean = self.regressors_[self.quantiles.index(0.5)].predict(X)
        return mean, (high - low) / 2.0
