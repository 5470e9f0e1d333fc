"""The core model: processes, Vars, ports, networks, errors, file formats and the model API."""
