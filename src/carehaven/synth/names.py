"""Small lists of names common in England, for people who never existed."""

from __future__ import annotations

MALE = (
    "Aaron", "Adam", "Ahmed", "Alan", "Alex", "Ali", "Andrew", "Anthony", "Ben", "Brian",
    "Callum", "Carl", "Charlie", "Chris", "Craig", "Daniel", "Darren", "David", "Dean", "Declan",
    "Ethan", "Gary", "George", "Harry", "Ian", "Imran", "Jack", "Jake", "James", "Jamie",
    "Jason", "John", "Jordan", "Joseph", "Kevin", "Kieran", "Lee", "Liam", "Luke", "Mark",
    "Martin", "Matthew", "Michael", "Mohammed", "Nathan", "Neil", "Oliver", "Paul", "Peter",
    "Richard", "Robert", "Ryan", "Scott", "Sean", "Simon", "Stephen", "Steven", "Stuart",
    "Thomas", "Tony", "Usman", "Wayne", "William", "Yusuf", "Zain",
)
FEMALE = (
    "Aisha", "Alice", "Amanda", "Amy", "Angela", "Anna", "Barbara", "Bethany", "Carol",
    "Charlotte", "Chloe", "Claire", "Danielle", "Deborah", "Donna", "Elaine", "Eleanor", "Emily",
    "Emma", "Fatima", "Gemma", "Grace", "Hannah", "Hayley", "Helen", "Jade", "Jane", "Jennifer",
    "Jessica", "Joanne", "Julie", "Karen", "Kate", "Kelly", "Kirsty", "Laura", "Leanne", "Lisa",
    "Louise", "Lucy", "Maria", "Megan", "Michelle", "Nadia", "Natalie", "Nicola", "Olivia",
    "Patricia", "Rachel", "Rebecca", "Samantha", "Sarah", "Shabana", "Sharon", "Sophie",
    "Stacey", "Susan", "Tracey", "Uzma", "Victoria", "Wendy", "Yasmin", "Zoe",
)
SURNAMES = (
    "Adams", "Ahmed", "Ali", "Allen", "Anderson", "Bailey", "Baker", "Barker", "Bell", "Bennett",
    "Brown", "Butler", "Campbell", "Carter", "Clarke", "Collins", "Cook", "Cooper", "Cox",
    "Davies", "Dixon", "Doyle", "Edwards", "Evans", "Fisher", "Foster", "Green", "Griffiths",
    "Hall", "Harris", "Harrison", "Hill", "Hughes", "Hussain", "Jackson", "James", "Johnson",
    "Jones", "Kaur", "Kelly", "Khan", "King", "Knight", "Lee", "Lewis", "Marshall", "Martin",
    "Mason", "Mitchell", "Moore", "Morgan", "Morris", "Murphy", "Nelson", "Nowak", "O'Brien",
    "Owen", "Parker", "Patel", "Phillips", "Price", "Quinn", "Richards", "Roberts", "Robinson",
    "Rogers", "Scott", "Shah", "Shaw", "Singh", "Smith", "Stevens", "Taylor", "Thomas",
    "Thompson", "Turner", "Underwood", "Walker", "Ward", "Watson", "White", "Wilkinson",
    "Williams", "Wilson", "Wood", "Wright", "Young",
)
#: Staff who obtain IPS consent (employment specialists and team leaders).
STAFF = (
    "Sam Okafor", "Priya Desai", "Tom Whitaker", "Joanna Lis", "Marcus Grant", "Helen Byrne",
    "Ravi Chauhan", "Claire Doherty", "Owen Pritchard", "Nia Roberts", "Kwame Mensah",
    "Lauren Fielding", "Darren Holt", "Ayesha Karim", "Gareth Lloyd", "Rosie McCann",
)
STAFF_POSITIONS = ("Employment Specialist", "Senior Employment Specialist", "IPS Team Leader")
