"""How long a running trial may stay silent in an RDB storage before it counts as dead."""

# Seconds between a running trial's heartbeats; a trial without one for four intervals
# counts as dead. Stored on the study when it is created, so that every process of the
# study judges its trials by the same clock.
HEARTBEAT_INTERVAL = 10
MAX_HEARTBEAT = 3600
# A worker that died mid-trial stops sending heartbeats; once the grace period (four
# intervals) passes without one, any worker of the study that starts a trial or waits for
# the last ones marks it FAIL, and the retry callback queues its configuration again. So a
# dead worker's trial is failed and retried within about a minute while another worker runs.
GRACE_INTERVALS = 4
