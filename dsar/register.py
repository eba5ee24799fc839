"""The controller's register of processing activities (Art. 30 GDPR), as data, and its loader.

Every entry restates what OTRS AG's privacy policy says about one processing activity
(/work/shared/reference/controller-privacy-policy.txt). Where the policy is silent on a point the
entry says so ("Not stated in the privacy policy") rather than guessing; where the ``legal_basis``
choice had to be inferred, ``legal_basis_detail`` says from what. A ``retention_obligation`` is
set only where a statute requires keeping the data: erasure then restricts the data instead,
until ``retention_years`` after ``retention_start`` (see ``ProcessingActivity.obligation_ends``).

``systems`` lists the keys of the DataSystems (``dsar.demo``) that hold the activity's data.
``load_register()`` writes all of it to the database and can be re-run at any time.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import Controller, DataSystem, LegalBasis, ProcessingActivity, RetentionStart

# --- The controller ---------------------------------------------------------------------------

CONTROLLER: dict[str, str] = {
    "name": "OTRS AG",
    "address": "OTRS AG\nZimmersmühlenweg 11\n61440 Oberursel\nGermany\n"
    "Legal representative: André Mindermann, CEO",
    "contact_email": "datasecurity@otrs.com",
    "dpo_name": "Robert Aumiller, IITR GmbH",
    "dpo_contact": "aumiller@iitr.de",
    # The policy only says "You also have the right to contact the data protection supervisory
    # authority for complaints" without naming one: this is the authority for Oberursel (Hesse).
    "supervisory_authority": "Der Hessische Beauftragte für Datenschutz und "
    "Informationsfreiheit, Gustav-Stresemann-Ring 1, 65189 Wiesbaden, Germany",
    "supervisory_authority_url": "https://datenschutz.hessen.de",
}

# --- Wording shared by several entries --------------------------------------------------------

NOT_STATED = "Not stated in the privacy policy."
NO_ADM = "No automated decision-making or profiling."
NO_ART22 = "No automated decision-making with legal or similarly significant effects (Art. 22)."
FROM_SUBJECT = "Provided by the data subject."
FROM_BROWSER = "Collected from the visitor's browser and device when the website is visited."
NO_TRANSFER = "None: the data is not passed on to third parties."
SAFEGUARDS_NOT_STATED = "Not stated in the privacy policy."

# The recipients and transfers the policy gives in its general section and repeats for the
# application procedure and for customer, employee and supplier data.
GENERAL_RECIPIENTS = (
    "Public authorities where overriding legal provisions require it; external service "
    "providers or other contractors (processors); other external bodies insofar as the data "
    "subject has consented or a transfer is permitted by an overriding interest."
)
GENERAL_TRANSFERS = (
    "Possible: in carrying out the contract, processors outside the European Union may also be "
    "used; the privacy policy names no countries."
)

STATUTORY_10_YEARS = (
    "Legal obligation (Art. 6(1)(c), Art. 17(3)(b) GDPR): §147 AO (German Fiscal Code) and §257 "
    "HGB (German Commercial Code) require commercial and tax records to be kept; the period "
    "runs from the end of the calendar year."
)


def _tracker(
    *,
    key: str,
    name: str,
    purposes: str,
    legal_basis: LegalBasis,
    legal_basis_detail: str,
    data_categories: str,
    recipients: str,
    third_country_transfers: str,
    transfer_safeguards: str = SAFEGUARDS_NOT_STATED,
    retention: str = NOT_STATED,
    automated_decision_making: str = NO_ADM,
    source: str = FROM_BROWSER,
) -> dict[str, Any]:
    """An entry for a website tracker or plug-in: no statutory retention, no DataSystem."""
    return {
        "key": key,
        "name": name,
        "purposes": purposes,
        "legal_basis": legal_basis,
        "legal_basis_detail": legal_basis_detail,
        "data_categories": data_categories,
        "recipients": recipients,
        "third_country_transfers": third_country_transfers,
        "transfer_safeguards": transfer_safeguards,
        "retention": retention,
        "source": source,
        "automated_decision_making": automated_decision_making,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    }


# --- The activities ---------------------------------------------------------------------------

ACTIVITIES: list[dict[str, Any]] = [
    # Marketing and contacts
    {
        "key": "newsletter",
        "name": "Newsletter",
        "purposes": "Sending the newsletter the person subscribed to; the data is used solely "
        "for this purpose.",
        "legal_basis": LegalBasis.CONSENT,
        "legal_basis_detail": "The subscription; it can be revoked at any time through the "
        "unsubscribe link in every newsletter or by a message to OTRS AG.",
        "data_categories": "Email address; other information given optionally with the "
        "subscription.",
        "recipients": "The newsletter delivery service (Mailchimp); the privacy policy names no "
        "recipient for the newsletter.",
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Until the person unsubscribes from the newsletter.",
        "source": "Provided by the data subject when subscribing to the newsletter.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["mailchimp"],
    },
    {
        "key": "direct-advertising",
        "name": "Direct advertising to customers",
        "purposes": "Direct advertising, in the form of the newsletter, for products or "
        "services OTRS AG sells that are similar to those the customer ordered.",
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        "legal_basis_detail": "Direct advertising to existing customers by email as permitted "
        "by §7(3) UWG (German Act against Unfair Competition), provided the customer has not "
        "objected; the customer may object at any time at no cost other than the transmission "
        "costs at the basic rates.",
        "data_categories": "Email address received in connection with the sale of a product or "
        "service.",
        "recipients": "The newsletter delivery service (Mailchimp) and the CRM (HubSpot); the "
        "privacy policy names no recipient for this advertising.",
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Until the customer objects to the use of the email address for "
        "advertising (which also cancels the newsletter).",
        "source": "Received from the data subject in connection with the sale of a product or "
        "service.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["mailchimp", "hubspot"],
    },
    {
        "key": "business-cards",
        "name": "Business card handling",
        "purposes": "Primarily keeping in touch with the person; also informing them about "
        "OTRS AG's products and services.",
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        "legal_basis_detail": "The privacy policy names no legal basis; recorded as OTRS AG's "
        "legitimate interest in keeping in touch with people who handed over their business "
        "card.",
        "data_categories": "The details on the business card, such as name, phone number and "
        "email address.",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Deleted after 5 years if the person does not purchase products or "
        "services from OTRS AG.",
        "source": "Provided by the data subject in the transfer or exchange of business cards.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["business-cards"],
    },
    {
        "key": "hubspot-crm",
        "name": "HubSpot CRM and personalised content",
        "purposes": "Providing website visitors and those who sign up through the HubSpot "
        "Subscription Service with content that better matches their interests; keeping the "
        "data they provide in the CRM.",
        "legal_basis": LegalBasis.CONSENT,
        "legal_basis_detail": "Active consent given in the cookie pop-up for the analysis and "
        "tracking of website behaviour; users may opt out of communications at any time.",
        "data_categories": "Behaviour on the OTRS websites (analysed and tracked); any data the "
        "user provides, e.g. through forms or subscriptions.",
        "recipients": "HubSpot, which is both a controller and a processor of the data; OTRS "
        "Group employees, who can access the CRM.",
        "third_country_transfers": "Not stated in the privacy policy; the data is accessible to "
        "OTRS Group employees, and OTRS, Inc. (Cupertino, USA) handles deletion requests.",
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Not stated in the privacy policy; users may request deletion at any time.",
        "source": "Provided by the data subject, and collected from their browser when they "
        "visit the websites.",
        "automated_decision_making": f"{NO_ART22} Website behaviour is analysed to personalise "
        "the content shown to the visitor.",
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["hubspot"],
    },
    {
        "key": "email-communication",
        "name": "Communication by email",
        "purposes": "Communicating with people who gave OTRS AG their email address, by email.",
        "legal_basis": LegalBasis.CONSENT,
        "legal_basis_detail": "The privacy policy treats it as consent, revocable at any time "
        "by opting out or by a short message to OTRS AG's postal or email address.",
        "data_categories": "Email address; the content of the communication.",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Until the person opts out; emails sent to OTRS AG are also archived (see "
        "Archived emails).",
        "source": FROM_SUBJECT,
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    # Registrations, forms and the forum
    {
        "key": "free-trial",
        "name": "Free-trial registration (OTRS-ID)",
        "purposes": "Facilitating the free-trial offer: downloads, viewing FAQs and creating "
        "inquiries to the OTRS Group; informing users by email about the offer or their "
        "registration, such as changes in its scope or technical difficulties.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Providing the free trial the person registered for, and steps "
        "prior to a contract at their request; the privacy policy names no article.",
        "data_categories": "Email address, first name, surname, country, telephone number, "
        "organisation, job title.",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "3 years; if there is no business relationship after this period, the "
        "registration data is deleted.",
        "source": "Provided by the data subject in the registration form.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["trial-signups"],
    },
    {
        "key": "website-accounts",
        "name": "Password-protected website areas",
        "purposes": "Verifying users who enter password-protected areas of the OTRS websites; "
        "the information is used strictly for this purpose.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "The privacy policy names no legal basis; recorded as providing "
        "the access the user asked for.",
        "data_categories": "The personal information the user enters to gain entry (login "
        "details).",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": NOT_STATED,
        "source": FROM_SUBJECT,
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    {
        "key": "inquiries",
        "name": "Website offers, inquiries and course registrations",
        "purposes": "Executing the offers on the website that need personal data (downloads, "
        "online applications, personal requests, course registrations, registrations for other "
        "services); processing inquiries and requests; to a limited extent support and "
        "marketing where permitted by law; combining the data with data already held about "
        "the person to keep customer data up to date and accurate.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Contract processing and the processing of the person's inquiries "
        "and requests; support and marketing only insofar as permitted by law (the person may "
        "object at any time); further use only with express prior consent.",
        "data_categories": "Name, address, email address and the further details needed to "
        "execute the offer; optional details given to facilitate communication.",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": NOT_STATED,
        "source": "Provided voluntarily by the data subject.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    {
        "key": "telephone-numbers",
        "name": "Telephone numbers from website forms",
        "purposes": "Solely verifying requests made online.",
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        "legal_basis_detail": "The privacy policy names no legal basis; recorded as OTRS AG's "
        "legitimate interest in verifying requests made online.",
        "data_categories": "Telephone number.",
        "recipients": "None named: the numbers are stored in OTRS AG's databases.",
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": NOT_STATED,
        "source": "Provided by the data subject in forms on the website.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    {
        "key": "developer-forum",
        "name": "Developer Community forum",
        "purposes": "Participation in the online forums of the Developer Community website; "
        "identifying each participant uniquely so that OTRS AG can fulfil its obligation to "
        "identify the authors of illegal content after the fact.",
        "legal_basis": LegalBasis.LEGITIMATE_INTERESTS,
        "legal_basis_detail": "Running the forum, and the obligation to be able to identify "
        "authors of illegal content; the privacy policy names no article.",
        "data_categories": "Registration details sufficient to identify the participant "
        "uniquely; user profile; the texts the participant publishes.",
        "recipients": "Other forum participants, only where the participant approved it in "
        "their user profile; published texts may be accessible to everyone on the Internet; "
        "the service providers administering and hosting the forum on OTRS AG's behalf.",
        "third_country_transfers": "Yes: the technical administration and hosting of the forums "
        "is carried out on OTRS AG's behalf and under its control, in part outside the EU; the "
        "privacy policy names no countries.",
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": NOT_STATED,
        "source": "Provided by the data subject when registering and posting.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["discourse"],
    },
    # The "further data processing procedures" of the policy
    {
        "key": "job-applications",
        "name": "Job applications",
        "purposes": "The application procedure; reviewing the application for other positions "
        "only where the applicant agreed.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Steps prior to an employment contract at the applicant's "
        "request; the privacy policy names no article. Review for other positions and longer "
        "storage only with the applicant's consent.",
        "data_categories": "Application details.",
        "recipients": GENERAL_RECIPIENTS,
        "third_country_transfers": GENERAL_TRANSFERS,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Generally deleted within six months after notification of the decision, "
        "unless the applicant consented to longer storage.",
        "source": "Provided by the data subject with the application.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "",
        "retention_years": None,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["hr-files"],
    },
    {
        "key": "customer-data",
        "name": "Customer and prospect data",
        "purposes": "Implementation of the contract.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Performance of the contract; additional data only on the basis "
        "of the person's express consent. Records are kept under §147 AO and §257 HGB "
        "(Art. 6(1)(c)).",
        "data_categories": "Data communicated for the execution of the contract; additional "
        "data processed on the basis of express consent.",
        "recipients": GENERAL_RECIPIENTS,
        "third_country_transfers": GENERAL_TRANSFERS,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Depends on the statutory storage requirements; usually 10 years.",
        "source": FROM_SUBJECT,
        "automated_decision_making": NO_ADM,
        "retention_obligation": STATUTORY_10_YEARS,
        "retention_years": 10,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["accounting"],
    },
    {
        "key": "employee-data",
        "name": "Employee data",
        "purposes": "Implementation of the employment contract.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Performance of the employment contract; additional data only on "
        "the basis of the employee's express consent.",
        "data_categories": "Data communicated for the execution of the contract; additional "
        "data processed on the basis of express consent.",
        "recipients": GENERAL_RECIPIENTS,
        "third_country_transfers": GENERAL_TRANSFERS,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Depends on the statutory storage requirements; usually 10 years.",
        "source": FROM_SUBJECT,
        "automated_decision_making": NO_ADM,
        "retention_obligation": "Legal obligation (Art. 6(1)(c), Art. 17(3)(b) GDPR): statutory "
        "storage requirements, usually 10 years (privacy policy), e.g. payroll and accounting "
        "records under §147 AO and §257 HGB; the period runs from the end of the calendar year.",
        "retention_years": 10,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    {
        "key": "supplier-data",
        "name": "Supplier data",
        "purposes": "Implementation of the contract.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "Performance of the contract; additional data only on the basis "
        "of express consent.",
        "data_categories": "Data communicated for the execution of the contract; additional "
        "data processed on the basis of express consent.",
        "recipients": GENERAL_RECIPIENTS,
        "third_country_transfers": GENERAL_TRANSFERS,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Depends on the statutory storage requirements; usually 10 years.",
        "source": FROM_SUBJECT,
        "automated_decision_making": NO_ADM,
        "retention_obligation": STATUTORY_10_YEARS,
        "retention_years": 10,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["accounting"],
    },
    {
        "key": "video-conferencing",
        "name": "Video conferencing and webinars",
        "purposes": "Holding video conferences and webinars.",
        "legal_basis": LegalBasis.CONTRACT,
        "legal_basis_detail": "The privacy policy names no legal basis for the conferences "
        "themselves; recorded as providing the conference or webinar the person takes part in. "
        "Recordings only with the participants' prior documented consent (Art. 6(1)(a)).",
        "data_categories": "First name, surname, email address; optionally audio, image and "
        "questions asked in the chat; technical data from the participant's system needed to "
        "connect to the conference software provider.",
        "recipients": "Public authorities where overriding legal provisions require it; "
        "external service providers or other contractors, e.g. for data processing and "
        "hosting; other external bodies insofar as the data subject has consented or a "
        "transfer is permitted for reasons of overriding interest.",
        "third_country_transfers": "Yes: processors outside the European Union are used (the "
        "United States of America).",
        "transfer_safeguards": "EU Standard Contractual Clauses concluded with the service "
        "provider (Art. 46(2)(c) GDPR).",
        "retention": "Conferences are recorded only with the participants' prior documented "
        "consent. Technical data is deleted when no longer required; otherwise storage follows "
        "the statutory retention obligations, generally 10 years.",
        "source": "Provided by the data subject when using the video-conference or webinar "
        "software.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "Legal obligation (Art. 6(1)(c), Art. 17(3)(b) GDPR): the "
        "statutory retention obligations the privacy policy refers to (§147 AO, §257 HGB), "
        "generally 10 years; the period runs from the end of the calendar year.",
        "retention_years": 10,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": [],
    },
    {
        "key": "archived-emails",
        "name": "Archived emails",
        "purposes": "Archiving, for tax reasons, all emails sent to OTRS AG and other OTRS AG "
        "Group companies (whose email systems are intended exclusively for business emails).",
        "legal_basis": LegalBasis.LEGAL_OBLIGATION,
        "legal_basis_detail": "Retention of business letters and tax-relevant documents under "
        "§147 AO and §257 HGB.",
        "data_categories": "Emails sent to OTRS AG and OTRS Group companies: sender and "
        "recipient addresses and names, contents and attachments.",
        "recipients": NOT_STATED,
        "third_country_transfers": NOT_STATED,
        "transfer_safeguards": SAFEGUARDS_NOT_STATED,
        "retention": "Ten years.",
        "source": "The emails the data subject, or others, sent to OTRS AG and OTRS Group "
        "companies.",
        "automated_decision_making": NO_ADM,
        "retention_obligation": "§147 AO, §257 HGB: business letters and emails are kept for "
        "tax reasons",
        "retention_years": 10,
        "retention_start": RetentionStart.END_OF_YEAR,
        "systems": ["email-archive"],
    },
    # Web analytics, cookies, trackers and plug-ins
    _tracker(
        key="web-analytics",
        name="Web analytics (Matomo)",
        purposes="Web analytics to optimise the websites for OTRS AG's external presentation.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="Art. 6(1) sentence 1(f) GDPR: the legitimate interest in optimising "
        "the websites for OTRS AG's external presentation. Nothing is stored when the browser "
        "sends 'Do Not Track'.",
        data_categories="Anonymised IP address; pages and files accessed; operating system, "
        "browser, browser plug-ins, screen resolution, approximate location (without a "
        "specific address), dwell time. No cookies.",
        recipients="None: Matomo runs on OTRS AG's own servers (on-premise); no data is "
        "transferred to third parties.",
        third_country_transfers=NO_TRANSFER,
        transfer_safeguards="Not applicable.",
    ),
    _tracker(
        key="first-party-cookies",
        name="First-party cookies (campaign tracking and usability)",
        purposes="A first-party cookie reads UTM parameters to assign campaigns to visitors and "
        "measure the success of marketing campaigns; OTRS AG's own cookies increase "
        "user-friendliness.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as the legitimate "
        "interest in measuring marketing campaigns and in a user-friendly website.",
        data_categories="Campaign (UTM) parameters of the visit; the visit and browsing "
        "behaviour stored in the cookie. According to the policy OTRS AG's own cookies never "
        "store personal information.",
        recipients="None: the data is not passed on to third parties.",
        third_country_transfers=NO_TRANSFER,
        transfer_safeguards="Not applicable.",
    ),
    _tracker(
        key="google-tag-manager",
        name="Google Tag Manager",
        purposes="Quick and uncomplicated integration and management of the analysis and "
        "tracking tools on the website; the Tag Manager itself stores no data and is loaded "
        "with the permitted cookies only after cookie consent.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="Art. 6(1)(f) GDPR: the legitimate interest in integrating and "
        "managing the tools on the website quickly and simply.",
        data_categories="IP address (shortened by Google before transfer; in exceptional cases "
        "shortened only on a US server).",
        recipients="Google Inc. / Google LLC, 1600 Amphitheatre Parkway, Mountain View, CA "
        "94043, USA.",
        third_country_transfers="USA: the IP address is shortened in EU/EEA member states "
        "before it is transferred to the USA; in exceptional cases the full IP address is "
        "transferred to a US server and shortened there.",
    ),
    _tracker(
        key="google-analytics",
        name="Google Analytics",
        purposes="Evaluating the use of the website, compiling reports on website activity "
        "and providing other services relating to website activity and Internet usage.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The Google Analytics section names no legal basis; Google's tools "
        "are loaded through the Tag Manager only after cookie consent, and the Vimeo section "
        "speaks of 'your consent to analyze your website visit with Google Analytics'.",
        data_categories="Information about the use of the website generated by cookies, "
        "including the IP address, shortened ('_anonymizeIp()').",
        recipients="Google Inc. (Google).",
        third_country_transfers="USA: the information is usually transmitted to and stored on "
        "a Google server in the USA; the IP address is shortened within the EU/EEA first, and "
        "only exceptionally transmitted in full to a US server and shortened there.",
        retention=NOT_STATED,
    ),
    _tracker(
        key="google-ads-conversion-tracking",
        name="Google Ads Conversion Tracking",
        purposes="Evaluating the use of the website, compiling reports on website activity and "
        "providing other services related to website activity and Internet usage.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The section names no legal basis; Google's tools are loaded "
        "through the Tag Manager only after cookie consent.",
        data_categories="Information about the use of the website generated by cookies.",
        recipients="Google Inc. (Google); third parties where required by law or where they "
        "process the data on Google's behalf.",
        third_country_transfers="USA: the information is transmitted to and stored on a Google "
        "server in the USA.",
    ),
    _tracker(
        key="google-remarketing",
        name="Google Remarketing",
        purposes="Recognising visitors within the Google advertising network (Google or "
        "partner websites) and showing them OTRS AG's advertisements based on their interests; "
        "analysing visitor behaviour for personalised ads.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="Only with active consent to marketing cookies in the cookie pop-up.",
        data_categories="A cookie assigning data segments to the visitor based on their "
        "behaviour on the website (anonymised, according to the policy).",
        recipients="Google (the Google advertising network).",
        third_country_transfers="Not stated in the privacy policy (Google is based in the USA).",
        retention="The anonymised data is stored for at most 60 days.",
        automated_decision_making=f"{NO_ART22} Visitor behaviour is analysed to show "
        "interest-based advertisements.",
    ),
    _tracker(
        key="google-recaptcha",
        name="Google reCAPTCHA Enterprise",
        purposes="Protecting the website's forms from bots and spam: detecting fraudulent "
        "activity and distinguishing human users from automated systems; not used for "
        "personal identification or advertising.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as the legitimate "
        "interest in protecting the forms from bots and spam.",
        data_categories="IP address (anonymised by Google), used to determine the approximate "
        "location; technical information such as browser, operating system and screen "
        "resolution; interactions with the captcha field; an identifier that recognises the "
        "visitor on future visits.",
        recipients="Google Ireland Ltd, Gordon House, Barrow St, Dublin 4, Ireland, with "
        "headquarters at Google LLC, 1600 Amphitheatre Parkway, Mountain View, CA 94043, USA; "
        "distributed to OTRS AG through HubSpot.",
        third_country_transfers="Yes: as Google is a global company, the data may be "
        "transferred to all countries in which Google operates, including the USA.",
        retention="Not stated in the privacy policy; Google's privacy policy for reCAPTCHA "
        "Enterprise governs deletion.",
    ),
    _tracker(
        key="youtube",
        name="YouTube plug-in",
        purposes="Embedding YouTube videos to make the website appealing.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="Art. 6(1)(f) GDPR: the justified interest in an appealing website.",
        data_categories="Which of OTRS AG's pages the visitor opened (sent by the browser to "
        "YouTube's servers); if logged in to YouTube, the link to the visitor's YouTube "
        "profile.",
        recipients="YouTube LLC, 901 Cherry Ave., San Bruno, CA 94066, USA, operated by Google.",
        third_country_transfers="USA: the browser connects to the servers of YouTube LLC (USA).",
    ),
    _tracker(
        key="vimeo",
        name="Vimeo plug-in",
        purposes="Providing videos about OTRS AG's products and services; with consent to "
        "Google Analytics, analysing the use of the videos to optimise, market and adapt the "
        "content.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The policy says 'legitimate interest according to Art. 6 para. 1 "
        "lit a) GDPR' (point (a) is consent) and makes the analysis subject to consent to "
        "Google Analytics; recorded as consent.",
        data_categories="That the browser accessed the page with the video (sent when the "
        "video is played); if logged in to Vimeo, the link to the Vimeo account; pseudonymised "
        "usage of the videos.",
        recipients="Vimeo Inc., 555 West 18th Street, New York, NY 10011, USA (privacy@vimeo.com).",
        third_country_transfers="USA: the information is sent from the browser directly to a "
        "Vimeo server in the USA and stored there.",
    ),
    _tracker(
        key="microsoft-advertising",
        name="Microsoft Advertising conversion tracking",
        purposes="Evaluating the use of the website by visitors who came through Bing ads and "
        "compiling reports on website activity.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="Only with active consent to marketing cookies in the cookie pop-up.",
        data_categories="Anonymised information about the use of the website generated by a "
        "cookie, for visitors arriving through Bing ads.",
        recipients="Microsoft Corporation, One Microsoft Way, Redmond, WA 98052-6399, USA; "
        "third parties where required by law or where they process the data on Microsoft's "
        "behalf.",
        third_country_transfers="USA: the information is transferred to a Microsoft server in "
        "the USA and stored there.",
        retention="Up to 180 days, after which Microsoft deletes it.",
        automated_decision_making=f"{NO_ART22} Microsoft may track usage across devices "
        "('cross-device tracking') to show interest-based advertising.",
    ),
    _tracker(
        key="vwo",
        name="VWO web analysis and A/B testing",
        purposes="Understanding the users' needs and optimising the offer and experience on "
        "the website: statistical analysis of its use and A/B tests.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The policy says 'legitimate interest in accordance with Art. 6 "
        "para. 1 lit a) GDPR' (point (a) is consent) and lets visitors refuse consent in the "
        "cookie settings; recorded as consent.",
        data_categories="Pseudonymised visitor data: number of visitors, click behaviour, "
        "average active time on the website, assigned to test variants; IP addresses only in "
        "anonymised form.",
        recipients="Wingify Software Pvt. Ltd. (KLJ Tower, Netaji Subhash Place, Pitam Pura, "
        "Delhi 110034, India; German office: Heidenkampsweg 58, 20097 Hamburg), storing the "
        "data on OTRS AG's behalf; not sold to third parties.",
        third_country_transfers="Not stated in the privacy policy (Wingify is headquartered in "
        "India).",
    ),
    _tracker(
        key="hotjar",
        name="Hotjar",
        purposes="Analysing how users use the website, solely to improve their experience.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The policy relies on the visitor implicitly accepting the "
        "processing by using the website; it names no article. Visitors can opt out on "
        "Hotjar's opt-out page.",
        data_categories="Device data: IP address (anonymised), screen resolution, device type "
        "and identifiers, operating system, browser type, country, preferred language; user "
        "interactions: mouse movements, locations and clicks, keypresses; log data: referring "
        "URL and domain, pages visited, country, language, date and time of access.",
        recipients="Hotjar Ltd., 3 Lyons Range, 20 Bisazza Street, Sliema SLM 1640, Malta.",
        third_country_transfers="None: the data is stored by Hotjar on servers in Ireland (EU).",
        transfer_safeguards="Not applicable.",
    ),
    _tracker(
        key="capterra",
        name="Capterra tracking pixel",
        purposes="Evaluating the effectiveness of the services Capterra provides to otrs.com.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The policy relies on the visitor implicitly accepting the "
        "processing and the transfer to the USA by using the website; it names no article.",
        data_categories="Information about the use of the website generated by cookies, "
        "including the IP address in anonymised form.",
        recipients="Capterra, Inc., 1201 Wilson Blvd, 9th Floor, Arlington, VA 22209, USA; "
        "its affiliates and other entities as defined by its privacy policy.",
        third_country_transfers="USA: the data is stored in a Capterra-managed database on "
        "servers in the United States.",
        transfer_safeguards="None named: the policy relies on the visitor agreeing to the "
        "transfer to the United States by using the service.",
        retention="Varies with how the data is used; generally kept as long as it is relevant "
        "to the purpose for which it was collected (Capterra).",
    ),
    _tracker(
        key="propensity",
        name="Propensity ABM",
        purposes=NOT_STATED + " The policy describes the collection of website access data "
        "with the Propensity ABM (account-based marketing) software.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as legitimate "
        "interests, as for the identically described Matomo analytics.",
        data_categories="Anonymised IP address; pages and files accessed; operating system, "
        "browser, browser plug-ins, screen resolution, approximate location (without a "
        "specific address), dwell time. No cookies.",
        recipients="Propensity (the ABM software provider); the policy does not say whether "
        "the data leaves OTRS AG.",
        third_country_transfers=NOT_STATED,
    ),
    _tracker(
        key="facebook-instagram-plugins",
        name="Facebook and Instagram social plug-ins ('like' button)",
        purposes=NOT_STATED + " The plug-ins let visitors interact with Facebook and "
        "Instagram from the website.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as legitimate "
        "interests, as the policy states for the YouTube plug-in.",
        data_categories="Data about the visitor's behaviour on pages with a plug-in, "
        "transmitted automatically to Facebook; if logged in, the link to the visitor's "
        "Facebook or Instagram account. OTRS AG has no influence on what is collected.",
        recipients="Facebook, Inc., 1601 S. California Ave, Palo Alto, CA 94304, USA; "
        "Instagram Inc., 1601 Willow Road, Menlo Park, CA 94025, USA.",
        third_country_transfers="USA: the data is transmitted to the servers of Facebook.",
    ),
    _tracker(
        key="facebook-instagram-custom-audiences",
        name="Facebook and Instagram pixel (Custom Audiences)",
        purposes="Showing Facebook and Instagram ads and tracking functionality "
        "(remarketing/retargeting).",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The privacy policy names no legal basis; recorded as consent, as "
        "for the other advertising trackers the policy describes; visitors can deactivate "
        "Custom Audiences.",
        data_categories="The fact of the visit and the IP address, sent directly by the "
        "browser to Facebook/Instagram, which can assign it to the visitor's user account.",
        recipients="Facebook, 1601 South California Avenue, Palo Alto, CA 94304, USA; "
        "Instagram Inc., 1601 Willow Road, Menlo Park, CA 94025, USA.",
        third_country_transfers="USA: the browser connects directly to the Facebook/Instagram "
        "server.",
        automated_decision_making=f"{NO_ART22} Facebook/Instagram can link the visit to the "
        "user account for advertising and tracking.",
    ),
    _tracker(
        key="linkedin-pixel",
        name="LinkedIn pixel",
        purposes="Showing LinkedIn ads and tracking functionality.",
        legal_basis=LegalBasis.CONSENT,
        legal_basis_detail="The privacy policy names no legal basis; recorded as consent, as "
        "for the other advertising trackers the policy describes.",
        data_categories="The fact of the visit and the IP address, sent directly by the "
        "browser to LinkedIn, which can assign it to the visitor's user account.",
        recipients="LinkedIn Corporation, 2029 Stierlin Court, Mountain View, CA 94043, USA.",
        third_country_transfers="USA: the browser connects directly to the LinkedIn server.",
        automated_decision_making=f"{NO_ART22} LinkedIn can link the visit to the user account "
        "for advertising and tracking.",
    ),
    _tracker(
        key="twitter-buttons",
        name="Twitter buttons",
        purposes="Letting visitors share a post or page on Twitter or follow OTRS AG on Twitter.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as legitimate "
        "interests, as the policy states for the YouTube plug-in.",
        data_categories="IP address of the user and the URL of the web page on which the "
        "button is shown.",
        recipients="Twitter Inc., 795 Folsom St., Suite 600, San Francisco, CA 94107, USA.",
        third_country_transfers="USA: the browser connects directly to the servers of Twitter.",
    ),
    _tracker(
        key="walkme",
        name="WalkMe in the OTRS Free Trial",
        purposes="Operating the WalkMe guidance system in the free trial; IP addresses in logs "
        "for security.",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        legal_basis_detail="The privacy policy names no legal basis; recorded as the legitimate "
        "interest in operating and securing the guidance in the free trial.",
        data_categories="IP addresses in logs; approximate geolocation (country and city); "
        "masked IP addresses; metadata assigned to an anonymous random GUID; browser and "
        "operating system, page URL and title.",
        recipients="WalkMe (see https://www.walkme.com/privacy-policy/).",
        third_country_transfers="Not stated in the privacy policy; it cites WalkMe's EU/Swiss-"
        "US Privacy Shield certification, which implies a transfer to the USA.",
        transfer_safeguards="The policy cites the EU/Swiss-US Privacy Shield, which the Court "
        "of Justice of the EU declared invalid in 2020 (C-311/18, Schrems II); no current "
        "safeguard is named.",
        source="Collected from the user's browser while using the OTRS Free Trial.",
    ),
]


def load_register() -> tuple[int, int]:
    """Write ACTIVITIES and CONTROLLER to the database; return (activities created, updated).

    Each activity is matched by its key and linked to those of its systems that exist, so the
    register can be loaded before the systems are set up and loaded again after.
    """
    created = updated = 0
    with transaction.atomic():
        systems = {system.key: system for system in DataSystem.objects.all()}
        for spec in ACTIVITIES:
            defaults = {k: v for k, v in spec.items() if k not in ("key", "systems")}
            activity, was_created = ProcessingActivity.objects.update_or_create(
                key=spec["key"], defaults=defaults
            )
            activity.systems.set([systems[key] for key in spec["systems"] if key in systems])
            if was_created:
                created += 1
            else:
                updated += 1
        controller = Controller.current() or Controller()
        for field, value in CONTROLLER.items():
            setattr(controller, field, value)
        controller.save()
    return created, updated
