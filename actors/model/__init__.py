"""What a customer is made of: its events, state, features and labels, the actions it
takes, the offer catalogue, and how a visitor's identity joins a customer's."""
