"""The weekly digest and the alerts: stored rows read as client histories, judged, and
written for the therapist."""
