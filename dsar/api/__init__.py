"""The REST API (/api/v1/) and the OpenDSR routes (/api/opendsr/v1/)."""
