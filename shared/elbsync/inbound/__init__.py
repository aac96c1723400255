"""What arrives at member_events: trigger envelopes, the events inside them, their schemas."""
