"""One small exception hierarchy; every message names the file, cycle and variable concerned."""


class AnalysisError(Exception):
    """Base class: an error the CLI reports in one line, without a traceback."""


class ConfigError(AnalysisError):
    """params.yaml or the catalog asks for something that does not exist or cannot be."""


class FetchError(AnalysisError):
    """A data file could not be obtained or failed verification."""


class DataError(AnalysisError):
    """A data file or derived table breaks an expectation (schema, codes, ranges, design)."""
