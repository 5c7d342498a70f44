"""The practice: enrolment, sessions and schedules, ratings, reports, invitation tokens,
therapists, the end of therapy."""
