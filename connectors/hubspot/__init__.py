"""HubSpot CRM: the connector and its local sandbox."""
