"""Payment gateways behind one interface: the sandbox, Stripe and Razorpay."""
