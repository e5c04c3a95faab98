"""The customer portal: a workspace's own branded pages where its customers sign up, sign in, file
requests and follow their conversations. Server-rendered; every flow works without JavaScript."""
