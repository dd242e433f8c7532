"""Cases: problems at sites, driven through the closed loop (闭环) by people."""
