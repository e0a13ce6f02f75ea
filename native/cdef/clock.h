uint64_t vmw_monotonic_ns(void);
int vmw_sleep_until_ns(uint64_t deadline_ns);
int64_t vmw_wait_release_ns(uint64_t deadline_ns, uint64_t spin_ns);
int vmw_set_timer_slack_ns(uint64_t slack_ns);
int64_t vmw_get_timer_slack_ns(void);
