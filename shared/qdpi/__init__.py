"""The QDPI cycle: Read, Index, Ask, Receive; the policy that bounds branching; page generation."""
